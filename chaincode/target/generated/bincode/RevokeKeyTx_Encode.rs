impl :: bincode :: Encode for RevokeKeyTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.key, encoder) ?; core :: result
        :: Result :: Ok(())
    }
}