impl :: bincode :: Encode for RedeemTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.target, encoder) ?; :: bincode ::
        Encode :: encode(&self.member, encoder) ?; :: bincode :: Encode ::
        encode(&self.order, encoder) ?; core :: result :: Result :: Ok(())
    }
}