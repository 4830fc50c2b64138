impl :: bincode :: Encode for TransferTokenTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.token, encoder) ?; :: bincode ::
        Encode :: encode(&self.from, encoder) ?; :: bincode :: Encode ::
        encode(&self.to, encoder) ?; core :: result :: Result :: Ok(())
    }
}