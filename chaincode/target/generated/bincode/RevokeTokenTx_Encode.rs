impl :: bincode :: Encode for RevokeTokenTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.token, encoder) ?; :: bincode ::
        Encode :: encode(&self.reason, encoder) ?; :: bincode :: Encode ::
        encode(&self.note, encoder) ?; core :: result :: Result :: Ok(())
    }
}